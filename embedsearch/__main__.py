from embedsearch.cli import main

main()
