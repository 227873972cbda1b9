"""Google Cloud REST APIs: Service Usage, Compute, Container, Logging."""
