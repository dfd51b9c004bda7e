"""Pure functions that return Dash component trees; no engine calls happen here."""
