"""The ``shipmate agent`` command (the loop lives in shipmate.services.agents.worker)."""
