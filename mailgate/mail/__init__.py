"""Pure mail logic: parsing, subjects, addresses. Nothing here does I/O."""
