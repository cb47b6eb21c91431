"""`failover-harness matrix`: each lab design with its fault, side by side (issue 13.4)."""
