"""Public datasets: the demo extract shipped in the package and `hazewarn data fetch`."""
