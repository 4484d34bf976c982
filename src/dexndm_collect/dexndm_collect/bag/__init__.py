"""rosbag2 (MCAP) writing, inspection and recovery on top of the `rosbags` library."""

from dexndm_collect.bag.info import BagInfo, read_bag_info
from dexndm_collect.bag.typestore import TypeResolver
from dexndm_collect.bag.writer import SplitBagWriter

__all__ = ["BagInfo", "SplitBagWriter", "TypeResolver", "read_bag_info"]
