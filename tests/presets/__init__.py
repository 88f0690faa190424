"""Each preset against its reference library (SPEC §5), and what every preset must do."""
