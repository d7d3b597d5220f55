"""What an item's content is: its formats and how each is parsed
(``formats``), where a value sits in parsed data (``paths``), schema
validation (``schema``) and comparison (``diff``). Pure functions, no store."""
