"""The gateway role, installed as ``shopwindow.gateway``."""

# From the repository root this folder is also importable as a top-level package; a
# second copy of every module (and class) would then exist side by side.
if __name__ != "shopwindow.gateway":
    raise ImportError(f"import shopwindow.gateway, not {__name__}")
