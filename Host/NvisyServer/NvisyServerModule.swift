public enum NvisyServerModule {}
