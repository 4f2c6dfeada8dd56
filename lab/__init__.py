"""relevance-lab: a search relevance lab for OpenSearch/Elasticsearch users."""

__version__ = "0.1.0"
