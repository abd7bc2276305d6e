"""The appliance's links to the home: MQTT today."""
