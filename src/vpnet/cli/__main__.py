from vpnet.cli import main

main()
