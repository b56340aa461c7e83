"""The meter: Faust agents around a pure fold of events into window values."""
