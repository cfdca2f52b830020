"""Generate the sample CRM export in ``dags/data/`` (run once; the output is committed).

The fictional company is *Lumen Harbor Software*, which sells to a few dozen accounts. The export
mixes CSV and JSON Lines the way real CRM exports do, with references that hold together: contacts
and deals point to existing accounts, deals to existing owners (business users) and stages, converted
leads to existing accounts, contacts and deals. A few deals appear twice (a later update moving the
deal to another stage), so the staging library splits them into a second generation.

Deterministic (fixed seed): re-running it rewrites byte-identical files.

    python scripts/make_sample_data.py [--out dags/data]
"""

from __future__ import annotations

import argparse
import csv
import json
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

SEED = 20260101
ACCOUNTS = 48
CONTACTS_PER_ACCOUNT = (4, 9)
DEALS = 150
DEAL_UPDATES = 8
LEADS = 220
CRM_URL = "https://crm.lumenharbor.example"
EPOCH = datetime(2026, 1, 5, 8, 0, 0, tzinfo=timezone.utc)

USERS = [
    ("u-1001", "maya.okafor", "Maya Okafor"),
    ("u-1002", "daniel.reyes", "Daniel Reyes"),
    ("u-1003", "sofia.lindqvist", "Sofia Lindqvist"),
    ("u-1004", "arjun.mehta", "Arjun Mehta"),
    ("u-1005", "hannah.brooks", "Hannah Brooks"),
    ("u-1006", "kenji.watanabe", "Kenji Watanabe"),
]
STAGES = [
    ("prospecting", "Prospecting", True),
    ("discovery", "Discovery", True),
    ("demo", "Demo", True),
    ("proposal", "Proposal", True),
    ("negotiation", "Negotiation", True),
    ("closed-won", "Closed Won", True),
    ("closed-lost", "Closed Lost", True),
    ("qualification-legacy", "Qualification (legacy)", False),
]
OPEN_STAGES = ["prospecting", "discovery", "demo", "proposal", "negotiation"]
NAME_PARTS = [
    "Aurora",
    "Blue Fjord",
    "Cobalt",
    "Driftwood",
    "Ember",
    "Foxglove",
    "Granite",
    "Harbor",
    "Iris",
    "Juniper",
    "Kestrel",
    "Larkspur",
    "Meridian",
    "Northwind",
    "Opal",
    "Pinecrest",
    "Quarry",
    "Redwood",
    "Sable",
]
NAME_SUFFIXES = ["Logistics", "Health", "Analytics", "Foods", "Energy", "Bank", "Retail", "Labs", "Freight"]
INDUSTRIES = ["Logistics", "Healthcare", "Software", "Food & Beverage", "Energy", "Finance", "Retail"]
TIERS = ["Enterprise", "Mid-Market", "SMB"]
FIRST = [
    "Ava",
    "Ben",
    "Chloe",
    "Diego",
    "Elena",
    "Felix",
    "Grace",
    "Hugo",
    "Ines",
    "Jonas",
    "Keira",
    "Liam",
    "Mila",
    "Noah",
    "Olga",
    "Pavel",
]
FIRST += ["Quinn", "Rosa", "Samir", "Tara", "Uma", "Victor", "Wen", "Yara"]
LAST = [
    "Adler",
    "Bauer",
    "Costa",
    "Dubois",
    "Evans",
    "Fischer",
    "Garcia",
    "Horvat",
    "Ivanova",
    "Jensen",
    "Kowalski",
    "Larsen",
]
LAST += ["Moreau", "Nakamura", "Oliveira", "Petrov", "Rossi", "Silva", "Tanaka", "Weber"]
TITLES = ["CFO", "VP Operations", "Head of IT", "Procurement Manager", "Director of Sales", "CTO", "Analyst"]
TITLES += ["Operations Manager", "Chief of Staff", "Data Engineer", "Controller", "VP Marketing"]


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def naive(moment: datetime) -> str:
    """Database-style timestamp without a zone, as CRM CSV exports often write them (UTC here)."""
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def phone(rng: random.Random) -> str:
    return f"+1 ({rng.randint(201, 989)}) {rng.randint(200, 999)}-{rng.randint(1000, 9999)}"


def build(rng: random.Random) -> dict[str, list[dict[str, Any]]]:
    def moment() -> datetime:
        return EPOCH + timedelta(minutes=rng.randint(0, 60 * 24 * 60))

    users = [
        {
            "objectId": oid,
            "emailAddress": f"{handle}@lumenharbor.example",
            "modifiedDate": iso(moment()),
            "url": f"{CRM_URL}/users/{oid}",
        }
        for oid, handle, _ in USERS
    ]
    stages = [
        {"objectId": oid, "name": name, "isActive": active, "sortOrder": index + 1}
        for index, (oid, name, active) in enumerate(STAGES)
    ]

    names = [f"{a} {b}" for a in NAME_PARTS for b in NAME_SUFFIXES]
    rng.shuffle(names)
    accounts = []
    for index, name in enumerate(names[:ACCOUNTS]):
        slug = name.lower().replace(" ", "")
        domains = [f"{slug}.example"] + ([f"{slug}-group.example"] if rng.random() < 0.3 else [])
        accounts.append(
            {
                "objectId": f"acc-{2001 + index}",
                "name": name,
                "domains": ",".join(domains),
                "url": f"{CRM_URL}/accounts/acc-{2001 + index}",
                "modifiedDate": iso(moment()),
                "industry": rng.choice(INDUSTRIES),
                "tier": rng.choice(TIERS),
            }
        )

    contacts = []
    for account in accounts:
        domain = str(account["domains"]).split(",")[0]
        for _ in range(rng.randint(*CONTACTS_PER_ACCOUNT)):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            oid = f"con-{30001 + len(contacts)}"
            contacts.append(
                {
                    "objectId": oid,
                    "accountId": account["objectId"],
                    "firstName": first,
                    "lastName": last,
                    "emailAddress": f"{first.lower()}.{last.lower()}.{len(contacts)}@{domain}",
                    "title": rng.choice(TITLES),
                    "phoneNumber": phone(rng),
                    "url": f"{CRM_URL}/contacts/{oid}",
                    "modifiedDate": naive(moment()),
                }
            )

    deals = []
    for index in range(DEALS):
        account = rng.choice(accounts)
        created = moment()
        status = rng.choices(["OPEN", "WON", "LOST"], weights=[6, 3, 2])[0]
        stage = {"WON": "closed-won", "LOST": "closed-lost"}.get(status) or rng.choice(OPEN_STAGES)
        oid = f"opp-{50001 + index}"
        deals.append(
            {
                "objectId": oid,
                "name": f"{account['name']} - {rng.choice(['Platform', 'Expansion', 'Renewal', 'Pilot'])}",
                "accountId": account["objectId"],
                "ownerId": rng.choice(USERS)[0],
                "stage": stage,
                "status": status,
                "amount": rng.randrange(5_000, 250_000, 500),
                "createdDate": iso(created),
                "closeDate": (created + timedelta(days=rng.randint(20, 160))).date().isoformat(),
                "modifiedDate": iso(created + timedelta(hours=rng.randint(1, 200))),
                "url": f"{CRM_URL}/deals/{oid}",
                "forecastCategory": rng.choice(["Pipeline", "Best Case", "Commit"]),
            }
        )
    # Later updates of a few open deals, after the first version in the same export: the staging
    # library sends them in a second file ("generation"), uploaded after the first one is DONE.
    open_deals = [deal for deal in deals if deal["status"] == "OPEN"]
    for deal in rng.sample(open_deals, DEAL_UPDATES):
        update = dict(deal)
        position = OPEN_STAGES.index(str(deal["stage"]))
        update["stage"] = OPEN_STAGES[min(position + 1, len(OPEN_STAGES) - 1)]
        moved = datetime.strptime(str(deal["modifiedDate"]), "%Y-%m-%dT%H:%M:%SZ")
        update["modifiedDate"] = iso(moved.replace(tzinfo=timezone.utc) + timedelta(days=3))
        deals.append(update)

    leads = []
    for index in range(LEADS):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        oid = f"lead-{70001 + index}"
        lead: dict[str, Any] = {
            "objectId": oid,
            "firstName": first,
            "lastName": last,
            "emailAddress": f"{first.lower()}.{last.lower()}.{index}@prospect{index % 37}.example",
            "title": rng.choice(TITLES),
            "phoneNumber": phone(rng),
            "url": f"{CRM_URL}/leads/{oid}",
            "modifiedDate": iso(moment()),
        }
        if rng.random() < 0.12:  # converted leads point to records that exist in this export
            contact = rng.choice(contacts)
            account_deals = [d for d in deals[:DEALS] if d["accountId"] == contact["accountId"]]
            lead["convertedToContactId"] = contact["objectId"]
            lead["convertedToAccountId"] = contact["accountId"]
            if account_deals:
                lead["convertedToDealId"] = account_deals[0]["objectId"]
        leads.append(lead)

    return {
        "business_users": users,
        "stages": stages,
        "accounts": accounts,
        "contacts": contacts,
        "deals": deals,
        "leads": leads,
    }


CUSTOM_FIELDS = {
    "ACCOUNT": [
        {
            "uniqueName": "industry",
            "label": "Industry",
            "type": "PICKLIST",
            "orderedValueList": INDUSTRIES,
        },
        {"uniqueName": "tier", "label": "Customer tier", "type": "PICKLIST", "orderedValueList": TIERS},
    ],
    "DEAL": [
        {
            "uniqueName": "forecastCategory",
            "label": "Forecast category",
            "type": "PICKLIST",
            "orderedValueList": ["Pipeline", "Best Case", "Commit"],
        }
    ],
}


def write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    fields = list(rows[0])
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "dags" / "data")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    data = build(random.Random(SEED))
    write_csv(args.out / "business_users.csv", data["business_users"])
    write_jsonl(args.out / "stages.jsonl", data["stages"])
    write_csv(args.out / "accounts.csv", data["accounts"])
    write_csv(args.out / "contacts.csv", data["contacts"])
    write_jsonl(args.out / "deals.jsonl", data["deals"])
    write_jsonl(args.out / "leads.jsonl", data["leads"])
    (args.out / "schema.json").write_text(json.dumps(CUSTOM_FIELDS, indent=2) + "\n", encoding="utf-8")
    for name, rows in data.items():
        print(f"{name}: {len(rows)} records")


if __name__ == "__main__":
    main()
