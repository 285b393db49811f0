"""`syncledger why`: the support commands that explain an item."""

from __future__ import annotations

import typer

from .app import DbOption, JsonOption, Usage, app, open_reader
from .explain import chain, check_ref, present_state
from .inputs import BadInput
from .output import console, print_json


@app.command()
def why(
    ref: str = typer.Argument(..., help="crm:<record> or outlook:<user>/<item>"),
    json: bool = JsonOption,
    db: str | None = DbOption,
) -> None:
    """Why an item is in its present state: the chain from user actions to the last decision about it.

    Example: syncledger why outlook:alice/c1
    """
    reader = open_reader(db)
    try:
        check_ref(ref, reader.index, reader.world)
    except BadInput as e:
        raise Usage(str(e)) from None
    steps = chain(ref, reader.index, reader.event)
    now = present_state(ref, reader.world)
    if json:
        print_json({"ref": ref, "now": now, "chain": steps})
        return
    console.print(now)
    if not steps:
        console.print(
            f"No decision was ever recorded about it: only user actions changed it (see 'syncledger history {ref}')."
        )
    for step in steps:
        console.print(f"  @{step['position']} {step['at']}  {step['sentence']}")
