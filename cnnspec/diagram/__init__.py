"""`cnnspec diagram`: pictures of a checked network (model.py says what is drawn; dot.py,
mermaid.py and html.py draw it; svg.py runs Graphviz; layout.py lays out the HTML page)."""
