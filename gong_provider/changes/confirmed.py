"""Reading which objectIds Gong confirmed, for checks outside change capture (reference checks).

Read-only, through change capture's reading API (:func:`~gong_provider.changes.capture.iter_state`,
one bucket at a time): it writes nothing, takes no claim and leaves any in-flight plan alone.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from gong_provider.changes.capture import iter_state
from gong_provider.changes.errors import GongStateCorruptError
from gong_provider.changes.state import LIVE, StateStore
from gong_provider.ids import IntegrationId
from gong_provider.models import ObjectType

log = logging.getLogger(__name__)


def confirmed_ids(
    state_base: Any, integration_id: IntegrationId, object_type: ObjectType | str
) -> Iterator[str]:
    """The objectIds of ``object_type`` Gong confirmed it holds (live keys; not tombstones, not
    pending ones); nothing when the type was never committed, or when its state is unusable (a
    reference check must not fail a run that change capture itself handles: the run of that type
    raises, or rebuilds with ``reset_state``)."""
    store = StateStore(state_base, integration_id, object_type)
    try:
        for object_id, _digest, flag, _extra in iter_state(store):
            if flag == LIVE:
                yield object_id
    except GongStateCorruptError as error:
        log.warning(
            "Reference check: the confirmed %s ids are not known (%s)", store.object_type.value, error
        )
