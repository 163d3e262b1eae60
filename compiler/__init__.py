"""The compiler: public API, capture and import, the staged driver, passes and tools."""
