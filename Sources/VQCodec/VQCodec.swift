@_exported import Container
