"""Deploy agents: the server's side of the agent protocol, and the agent's loop.

* :mod:`~shipmate.services.agents.hosts`: the hosts registry (hello, last seen, state);
* :mod:`~shipmate.services.agents.claims`: handing a host's runs to its agent;
* :mod:`~shipmate.services.agents.reports`: the agent's fenced journal writes;
* :mod:`~shipmate.services.agents.client`: the agent's HTTP :class:`RunBackend`;
* :mod:`~shipmate.services.agents.worker`: the loop ``shipmate agent`` runs.

The server never runs a step: it only stores what the agent reports.
"""
