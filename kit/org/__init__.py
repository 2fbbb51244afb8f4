"""The organization roll-up: many run folders (units, dates) on one static page plus ``org.json``.

``read`` finds and loads run folders (I/O), ``summary`` turns one run's files into plain figures,
``tables`` builds tidy tables over all runs, ``page`` renders them, ``build`` writes the files.
"""
