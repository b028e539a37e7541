"""Several hosts serving one environment: how a run is rolled out across them."""
