"""The run report: its data view, Markdown and HTML pages, pictures and screenshot check."""
