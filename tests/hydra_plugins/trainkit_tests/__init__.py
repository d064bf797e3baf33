"""Adds tests/conf to Hydra's config search path whenever tests/ is on the Python path.

So the kit's tests (and the scripts they start, whose PYTHONPATH holds tests/) can say
`+experiment=tiny_binary`: the tiny experiments live with the tests, not in conf/experiment/,
and a project that drops every example keeps them. This is Hydra's public SearchPathPlugin.
"""

from pathlib import Path

from hydra.core.config_search_path import ConfigSearchPath
from hydra.plugins.search_path_plugin import SearchPathPlugin

TEST_CONF = Path(__file__).resolve().parents[2] / "conf"


class TestConfigs(SearchPathPlugin):
    """tests/conf, searched after the repository's conf/."""

    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        search_path.append(provider="trainkit-tests", path=f"file://{TEST_CONF}")
