"""The one exception family the library raises; the CLI turns it into a single error line and exit code 2."""


class HwsimError(Exception):
    """Base class for every user-facing error (bad input, bad file, bad configuration)."""


class SpecError(HwsimError):
    """A model spec or recipe is malformed or inconsistent."""


class HeadsError(HwsimError):
    """A heads-per-layer vector does not fit the model."""


class AccelConfigError(HwsimError):
    """An accelerator configuration is malformed or inconsistent."""


class CheckpointError(HwsimError):
    """A checkpoint is missing, corrupt or does not match the spec."""


class DataError(HwsimError):
    """A corpus file is missing, empty or unreadable."""


class SweepError(HwsimError):
    """A sweep space or results store is malformed, or a resume does not match its inputs."""


class OutputError(HwsimError):
    """An output path cannot be written, or writing it would replace something that is not ours to replace."""
class TechError(HwsimError):
    """A technology query (SRAM size, node, access width, DRAM type) is outside what the models cover."""
