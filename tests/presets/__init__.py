"""Each preset against its reference library (docs/presets.md), and what every preset must do."""
