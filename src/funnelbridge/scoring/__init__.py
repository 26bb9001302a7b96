"""Lead scoring: rule scoring (fit, engagement, negative) and the optional predictive scorer."""
