"""How the config service reaches the replicated store: the client
interface it is written against (``client``), where its records live in the
keyspace (``keys``), and how records are encoded and written (``records``)."""
