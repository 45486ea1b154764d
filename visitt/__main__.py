from visitt.cli import main

main()
