"""The federated topology: the subgraphs of ``federation/subgraphs.json`` as separate processes,
composed by Apollo's ``@apollo/composition`` and served by Hive Gateway (see README
"Federation").

* :mod:`.layout`: the subgraphs, ports and files (``federation/subgraphs.json``);
* :mod:`.compose`: the Node side (composition, the gateway's command line);
* :mod:`.plumbing`: a supergraph's API schema and the combined SDL, federation plumbing removed;
* :mod:`.launcher`: starts the subgraphs and the gateway, waits until each is healthy;
* :mod:`.cli`: ``mlgraph federation up``.
"""
