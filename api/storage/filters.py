"""The optional filters that many queries share, written once."""


def optional(column: str, param: str, sql_type: str = "bigint") -> str:
    """``column = :param``, or every row when the bound value is NULL (an id or type the caller did not give).

    The CAST tells PostgreSQL the parameter's type when it is NULL, which it cannot infer from ``IS NULL``."""
    return f"(CAST(:{param} AS {sql_type}) IS NULL OR {column} = :{param})"
