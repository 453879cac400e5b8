"""Pure logic of the call-recording optimizer, shared by the three Lambda handlers.

Nothing in this package creates AWS clients at import time; handlers inject them.
"""
