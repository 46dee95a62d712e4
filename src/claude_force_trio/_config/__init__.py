"""The configuration: ``.claude/claude.json`` into frozen dataclasses, and back.

Modules: ``_model`` (the frozen dataclasses, importing nothing of ours),
``_checks`` (value checks that name their JSON path), ``_schema`` (every
key, declared once), ``_files`` (reading the
files a config names without leaving its folder), ``_load`` (finding, parsing
and validating a config) and ``_migrate`` (writing the filled-in file back).
"""

from ._load import AgentFiles as AgentFiles
from ._load import find_config as find_config
from ._load import load_config as load_config
from ._load import load_document as load_document
from ._load import read_document as read_document
from ._load import read_named as read_named
from ._model import SEMANTIC_THRESHOLD as SEMANTIC_THRESHOLD
from ._model import AgentConfig as AgentConfig
from ._model import AgentSemanticConfig as AgentSemanticConfig
from ._model import ApiConfig as ApiConfig
from ._model import AuthStyle as AuthStyle
from ._model import BudgetConfig as BudgetConfig
from ._model import CacheConfig as CacheConfig
from ._model import CircuitBreakerConfig as CircuitBreakerConfig
from ._model import Config as Config
from ._model import CoordinationConfig as CoordinationConfig
from ._model import Defaults as Defaults
from ._model import FeaturesConfig as FeaturesConfig
from ._model import MemoryConfig as MemoryConfig
from ._model import OnFailure as OnFailure
from ._model import PerformanceConfig as PerformanceConfig
from ._model import RetryConfig as RetryConfig
from ._model import SemanticConfig as SemanticConfig
from ._model import StepConfig as StepConfig
from ._model import WorkflowConfig as WorkflowConfig
from ._schema import LEGACY_AGENT_KEYS as LEGACY_AGENT_KEYS
