"""On-chip plasticity of the emulated chip: correlation sensors, their parameters, rules and the plasticity step."""

from __future__ import annotations
