"""Recording episode videos during training: the callback and its host-side MP4 writer."""

from ._record_videos import RecordVideos as RecordVideos
from ._record_videos import RecordVideosState as RecordVideosState
