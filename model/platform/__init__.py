"""Facts about the target platform (Linux 6.18): helper ids and names."""

from model.platform.helpers import HELPER_NAMES, MAX_HELPER_ID, helper_name

__all__ = ["HELPER_NAMES", "MAX_HELPER_ID", "helper_name"]
