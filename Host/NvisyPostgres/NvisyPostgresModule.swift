/// PostgreSQL for nvisy: the embedded server, the connection pool, migrations and repositories.
public enum NvisyPostgresModule {}
