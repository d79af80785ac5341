"""Domain enumerations, stored as their names (VARCHAR) on both backends."""

from __future__ import annotations

import enum


class Role(enum.StrEnum):
    VIEWER = "VIEWER"
    EDITOR = "EDITOR"
    ADMIN = "ADMIN"


class JobKind(enum.StrEnum):
    PIPELINE_RUN = "PIPELINE_RUN"
    EVALUATION = "EVALUATION"
    ROLLOUT = "ROLLOUT"


class JobStatus(enum.StrEnum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


class RiskTier(enum.StrEnum):
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"


class Stage(enum.StrEnum):
    DRAFT = "DRAFT"
    STAGING = "STAGING"
    PRODUCTION = "PRODUCTION"
    ARCHIVED = "ARCHIVED"


class ArtifactKind(enum.StrEnum):
    WEIGHTS = "WEIGHTS"
    METRICS = "METRICS"
    DATASET = "DATASET"
    CODE = "CODE"
    OTHER = "OTHER"


class ArtifactStatus(enum.StrEnum):
    PENDING = "PENDING"
    AVAILABLE = "AVAILABLE"
    FAILED = "FAILED"


class Environment(enum.StrEnum):
    DEVELOPMENT = "DEVELOPMENT"
    STAGING = "STAGING"
    PRODUCTION = "PRODUCTION"


class DeploymentStrategy(enum.StrEnum):
    ROLLING = "ROLLING"
    CANARY = "CANARY"
    BLUE_GREEN = "BLUE_GREEN"


class DeploymentStatus(enum.StrEnum):
    PENDING = "PENDING"
    ACTIVE = "ACTIVE"
    ROLLED_BACK = "ROLLED_BACK"
    FAILED = "FAILED"
    RETIRED = "RETIRED"


class DeploymentEventKind(enum.StrEnum):
    CREATED = "CREATED"
    TRAFFIC_SHIFTED = "TRAFFIC_SHIFTED"
    PROMOTED = "PROMOTED"
    ROLLED_BACK = "ROLLED_BACK"
    STATUS_CHANGED = "STATUS_CHANGED"
    ROLLOUT_STARTED = "ROLLOUT_STARTED"
    ROLLOUT_STEP = "ROLLOUT_STEP"
    ROLLOUT_PAUSED = "ROLLOUT_PAUSED"
    ROLLOUT_RESUMED = "ROLLOUT_RESUMED"
    ROLLOUT_SUCCEEDED = "ROLLOUT_SUCCEEDED"
    ROLLOUT_ABORTED = "ROLLOUT_ABORTED"


class RolloutStatus(enum.StrEnum):
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    SUCCEEDED = "SUCCEEDED"
    ROLLED_BACK = "ROLLED_BACK"
    ABORTED = "ABORTED"


class DriftKind(enum.StrEnum):
    DATA = "DATA"
    CONCEPT = "CONCEPT"
    PREDICTION = "PREDICTION"
    #: Not drift: an operational series (latency p99, error rate, throughput).
    OPERATIONAL = "OPERATIONAL"


class Operator(enum.StrEnum):
    GT = "GT"
    GTE = "GTE"
    LT = "LT"
    LTE = "LTE"


class Severity(enum.StrEnum):
    INFO = "INFO"
    WARNING = "WARNING"
    CRITICAL = "CRITICAL"


class AlertStatus(enum.StrEnum):
    PENDING = "PENDING"
    FIRING = "FIRING"
    ACKNOWLEDGED = "ACKNOWLEDGED"
    RESOLVED = "RESOLVED"


class DeliveryStatus(enum.StrEnum):
    PENDING = "PENDING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


class WebhookFormat(enum.StrEnum):
    STANDARD = "STANDARD"
    SLACK = "SLACK"
