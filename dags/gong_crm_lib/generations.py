"""Uploads the later generations of one type, one generation after another, waiting without a worker.

The staging library puts the 2nd, 3rd, ... update of an objectId into generation 1, 2, ...; Gong
applies files in no guaranteed order, so generation n+1 must be uploaded only once generation n is
DONE. Generation 0 (all the data, usually) is uploaded by the mapped ``upload`` tasks and awaited by
the mapped ``wait`` sensors; this task then hands generations 1..n to the provider's
GongUploadEntitiesOperator, which uploads them generation by generation and defers to the triggerer
until each is DONE. When the stage found no repeated objectId there is nothing to do: it returns [].
"""

from __future__ import annotations

from typing import Any

from gong_provider.operators.gong import GongUploadEntitiesOperator


class GongUploadLaterGenerationsOperator(GongUploadEntitiesOperator):
    """GongUploadEntitiesOperator over a possibly empty list of staged files (an empty list: no-op)."""

    def execute(self, context: Any) -> Any:
        if not self.file:
            self.log.info("%s has no later generation: nothing to upload", self.object_type)
            return []
        return super().execute(context)
