from media_catalog.cli import main

main()
