"""The Cloud Logging query language and the LogEntry, pure.

==================  ===========================================================================
``lexer``           tokens (upper-case keywords, ``--`` comments, strings with escapes)
``parser``          hand-written recursive descent: ``parse(text) -> ast.Node``
``ast``             the tree, and ``dump`` (the S-expression the golden tests use)
``schema``          the LogEntry schema and field-path resolution
``values``          literal conversions (timestamps, durations, severities, NFKC casefold)
``evaluate``        the reference semantics: ``evaluate(node, entry) -> bool``
``compile_sql``     the SQL that narrows candidates (never drops a match) and the indexed
                    columns of an entry
``entry``           checking and completing a written entry (``entries:write``)
``errors``          ``Unparseable filter: ...`` / ``Invalid filter: ...`` (InvalidArgument)
==================  ===========================================================================
"""
