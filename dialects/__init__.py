"""The mlirfuse dialect (IRDL) and its Python builders."""
