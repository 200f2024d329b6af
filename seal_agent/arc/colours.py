"""The ARC palette: colour k of a grid cell, as drawn by the ARC testing interface."""

PALETTE = (
    "#000000",  # 0 black
    "#0074D9",  # 1 blue
    "#FF4136",  # 2 red
    "#2ECC40",  # 3 green
    "#FFDC00",  # 4 yellow
    "#AAAAAA",  # 5 grey
    "#F012BE",  # 6 magenta
    "#FF851B",  # 7 orange
    "#7FDBFF",  # 8 azure
    "#870C25",  # 9 maroon
)


def colour(cell: int) -> str:
    """The colour of a cell; anything outside 0-9 (a malformed prediction) is white."""
    return PALETTE[cell] if isinstance(cell, int) and 0 <= cell <= 9 else "#FFFFFF"
