"""The graphferry server: a supervisor (no torch) and its worker processes.

``graphferry.server.supervisor`` and everything it imports must never import
torch; only ``graphferry.server.worker`` and the modules it alone uses do.
"""
