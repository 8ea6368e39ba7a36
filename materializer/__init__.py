"""The materializer role, installed as ``shopwindow.materializer``."""

# From the repository root this folder is also importable as a top-level package; a
# second copy of every module (and class) would then exist side by side.
if __name__ != "shopwindow.materializer":
    raise ImportError(f"import shopwindow.materializer, not {__name__}")
