"""Case workflows: the pure state machines of residents' requests (requests) and hazards (hazards), each a table of
transitions — from which states, to which state, taken by whom — that routers check and storage applies with the
case's expected version."""
