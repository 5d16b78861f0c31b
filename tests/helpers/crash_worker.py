"""A worker for the crash test: runs publishing lifecycles as fast as it can, forever.

    python -m tests.helpers.crash_worker DATABASE_URL

After every command that returned (so: committed) it prints one line
``<item id> <item version> <state>`` and flushes, so the test knows what the database
must still hold after it kills this process with SIGKILL at a random moment. Every
fourth command is a refused one, so that refusals are written while it dies too.
"""

from __future__ import annotations

import contextlib
import sys

from cmc_workflow import Engine, Item
from cmc_workflow.errors import EngineError
from cmc_workflow.log import configure_logging
from tests.helpers import EDITOR, HAPPY_PATH, LEAD, TOPIC, ok_handler
from tests.helpers import UNGUARDED_PUBLISHING as PUBLISHING


def report(item: Item) -> None:
    # one write of the whole line: print() writes each argument and separator apart, and
    # with PYTHONUNBUFFERED set (as on CI's machine) each of them is a write of its own,
    # so a kill between two left the test half a line; one write of a short line to a
    # pipe is atomic
    sys.stdout.write(f"{item.id} {item.version} {item.state}\n")
    sys.stdout.flush()


def main(url: str) -> None:
    configure_logging(level="warning")  # logs go to stderr; stdout carries the reports
    with Engine.open(
        url, workflows=PUBLISHING, handlers={"publish_to_channels": ok_handler}
    ) as engine:
        n = 0
        while True:
            item = engine.start("publishing", actor=EDITOR, data=TOPIC)
            report(item)
            for _state, trigger, actor, form in HAPPY_PATH:
                n += 1
                if n % 4 == 0:  # refused as intended: only the audit record is written
                    with contextlib.suppress(EngineError):
                        engine.fire(item.id, "delete", actor=EDITOR, data={"reason": "x"})
                if trigger == "archive" and n % 3 == 0:
                    # sometimes leave the item published and report an error instead
                    trigger, actor, form = "report_error", LEAD, {"description": "错字"}
                if trigger == "assign":
                    # drafting is due by the assignment's due date (PUB-3) and this worker
                    # runs on the wall clock: keep the deadline ahead so no timer fires
                    form = {**form, "due_date": "2099-12-31"}
                item = engine.fire(item.id, trigger, actor=actor, data=dict(form))
                report(item)


if __name__ == "__main__":
    main(sys.argv[1])
