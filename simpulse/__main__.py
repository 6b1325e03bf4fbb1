from simpulse.cli import main

main()
