"""Registers the fixture modules; see fixtures/ for what each provides."""

pytest_plugins = [
    "fixtures.exits",
    "fixtures.options",
    "fixtures.mesh",
    "fixtures.features",
    "fixtures.workloads",
    "fixtures.traffic",
    "fixtures.gateway",
    "fixtures.database",
    "fixtures.identities",
    "fixtures.tcp",
    "fixtures.coverage",
    "fixtures.reporting",
    "fixtures.wire",  # after reporting, whose attachment helpers it uses
    # the project's own tests run small fake suites in-process
    "pytester",
]
